-- Membership of posts in collections (CDC key: collection_id, so one collection's changes stay ordered).
CREATE TABLE collection_items (
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    post_id       bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    added_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection_id, post_id)
);
ALTER TABLE collection_items REPLICA IDENTITY FULL;

-- Stories are posts too (their reach feeds the discovery profile's story_reach).
ALTER TABLE posts DROP CONSTRAINT IF EXISTS posts_post_type_check;
ALTER TABLE posts ADD CONSTRAINT posts_post_type_check
    CHECK (post_type IN ('image', 'carousel', 'reel', 'video', 'short', 'story'));

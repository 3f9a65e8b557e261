"""Connect task state → gauges: the parsing of ``/connectors?expand=status``."""

from connectors.health import task_states


def test_task_states_counts_running_and_failed_tasks():
    body = {
        "a": {"status": {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "RUNNING"}]}},
        "b": {
            "status": {
                "connector": {"state": "RUNNING"},
                "tasks": [{"id": 0, "state": "FAILED"}, {"id": 1, "state": "RUNNING"}],
            }
        },
        "c": {"status": {"connector": {"state": "PAUSED"}, "tasks": []}},
    }
    assert task_states(body) == {"a": (True, 1, 0), "b": (True, 1, 1), "c": (False, 0, 0)}

"""RemoteBackend("spark") specifics: live events over TCP, errors, arguments (the session's Spark)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hypernodes import InvalidArgumentError, Pipeline, RuntimeConfig
from hypernodes.distributed import RemoteBackend
from hypernodes.executors import SequentialExecutor
from hypernodes.testing.recording import RecordingCallback

from .test_dask_executor import CustomError, _MarkOnItemEnd, fails_on_three, waits_for_file

pytestmark = pytest.mark.spark


def test_events_reach_the_caller_while_spark_tasks_run(spark_session: Any, tmp_path: Path) -> None:
    marker = tmp_path / "item-0-ended"
    recorder = RecordingCallback()
    with RemoteBackend("spark", client=spark_session, chunksize=1) as backend:
        config = RuntimeConfig(backend=backend, executor=SequentialExecutor(),
                               callbacks=[_MarkOnItemEnd(marker), recorder])  # fmt: skip
        out = Pipeline(nodes=[waits_for_file]).map(inputs={"x": [0, 1], "marker": str(marker)}, map_over="x",
                                                   config=config)  # fmt: skip
    assert out == {"y": [0, 1]}
    assert sorted(e.item_index for e in recorder.hooks("on_map_item_end")) == [0, 1]


def test_a_node_error_comes_back_as_its_own_type(spark_session: Any) -> None:
    with RemoteBackend("spark", client=spark_session) as backend:
        config = RuntimeConfig(backend=backend, executor=SequentialExecutor())
        with pytest.raises(CustomError, match="bad item 3") as info:
            Pipeline(nodes=[fails_on_three], name="fragile").map(inputs={"x": [1, 3]}, map_over="x", config=config)
    assert "in node 'fails_on_three' of fragile, map item 1" in info.value.__notes__


def test_a_connect_token_on_classic_spark_is_an_error() -> None:
    backend = RemoteBackend("spark", "local[1]", security="secret")
    with pytest.raises(InvalidArgumentError, match="sc://"):
        backend._connected()

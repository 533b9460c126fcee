"""The Modal objects a ModalBackend builds, asserted on without network; its arguments and its pickling."""

from __future__ import annotations

import pickle

import modal
import pytest
from modal_objects import function_value, image_steps

from hypernodes import HyperNodesError, InvalidArgumentError, Pipeline, RuntimeConfig, node
from hypernodes.modal import ModalBackend
from hypernodes.modal._container import run_in_container
from hypernodes.modal.backend import FUNCTION_NAME
from hypernodes.modal.image import python_version


@node(output_name="y")
def increment(x: int) -> int:
    return x + 1


@pytest.fixture(name="volume")
def volume_fixture() -> modal.Volume:
    return modal.Volume.from_name("hypernodes-test-cache", create_if_missing=True)


@pytest.fixture(name="secret")
def secret_fixture() -> modal.Secret:
    return modal.Secret.from_dict({"HF_TOKEN": "not-a-token"})


def test_the_function_gets_every_requested_resource(volume: modal.Volume, secret: modal.Secret) -> None:
    backend = ModalBackend(
        gpu="A10G", cpu=2.0, memory=8192, timeout=900, volumes={"/cache": volume}, secrets=[secret],
        max_containers=3, call_retries=2, app_name="hn-test",
    )  # fmt: skip
    info = backend.function.info()
    assert info.gpus == [("A10G", 1)]
    assert (info.cpu, info.memory_mib, info.timeout, info.max_retries) == (2.0, 8192, 900, 2)
    assert info.volumes["/cache"].name == "hypernodes-test-cache"
    assert info.secrets == ["Secret.from_dict([HF_TOKEN])"]
    assert function_value(backend.function, "autoscaler_settings").max_containers == 3
    assert backend.app.name == "hn-test"


def test_the_function_is_serialized_and_its_body_is_the_container_entrypoint() -> None:
    source = function_value(ModalBackend().function, "info")
    assert source.is_serialized()
    assert source.raw_f is run_in_container
    assert source.function_name == FUNCTION_NAME


def test_modal_ships_the_body_by_reference_to_the_installed_package() -> None:
    from modal._serialization import serialize

    blob = serialize(run_in_container)
    assert b"hypernodes.modal._container" in blob and len(blob) < 200  # a reference, not code


def test_gpu_fallbacks_and_limits_are_passed_as_given() -> None:
    backend = ModalBackend(gpu=["H100", "A100-80GB:2"], cpu=(1.0, 4.0), memory=(1024, 4096))
    info = backend.function.info()
    assert info.gpus == [("H100", 1), ("A100-80GB", 2)]
    assert info.cpu == (1.0, 4.0)


def test_function_options_reach_modal() -> None:
    backend = ModalBackend(function_options={"scaledown_window": 60, "region": "us-east"})
    assert function_value(backend.function, "autoscaler_settings").scaledown_window == 60
    assert backend.function.info().regions == ["us-east"]


def test_the_default_image_is_debian_slim_on_this_python() -> None:
    commands, _ = image_steps(ModalBackend(python_packages=("numpy==2.1.0",)).function_arguments()["image"])
    assert commands[0].startswith(f"FROM python:{python_version()}.")
    assert "slim" in commands[0]
    assert any("numpy==2.1.0" in command for command in commands)


def test_a_users_image_is_used_as_is() -> None:
    image = modal.Image.debian_slim(python_version=python_version()).pip_install("torch")
    assert ModalBackend(image=image).function_arguments()["image"] is image


def test_each_backend_has_its_own_app_and_builds_it_once() -> None:
    first, second = ModalBackend(gpu="T4"), ModalBackend(gpu="T4")
    assert first.app is first.app and first.function is first.function
    assert first.app is not second.app


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"mode": "cloud"}, "'remote' or 'local'"),
        ({"timeout": 0}, "timeout"),
        ({"max_containers": 0}, "max_containers"),
        ({"items_per_call": 1.5}, "items_per_call"),
        ({"connect_timeout": -1}, "connect_timeout"),
        ({"hypernodes_source": "git"}, "'auto', 'pypi' or 'local'"),
    ],
)
def test_bad_arguments_are_rejected_when_the_backend_is_made(arguments: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        ModalBackend(**arguments)  # type: ignore[arg-type]


def test_repr_shows_what_differs_from_the_defaults(volume: modal.Volume) -> None:
    assert repr(ModalBackend()) == "ModalBackend()"
    assert repr(ModalBackend(gpu="T4", volumes={"/c": volume})) == "ModalBackend(gpu='T4', volumes=...)"


def test_a_pickled_backend_keeps_its_settings_but_not_its_modal_objects(volume: modal.Volume) -> None:
    copy = pickle.loads(pickle.dumps(ModalBackend(gpu="T4", memory=512, volumes={"/c": volume})))
    assert (copy.gpu, copy.memory, copy.volumes) == ("T4", 512, {})
    with pytest.raises(HyperNodesError, match="sent to another process"):
        Pipeline(nodes=[increment]).run(inputs={"x": 1}, config=RuntimeConfig(backend=copy))


def test_close_is_idempotent_and_a_closed_backend_opens_a_new_session() -> None:
    backend = ModalBackend(mode="local")
    config = RuntimeConfig(backend=backend)
    assert Pipeline(nodes=[increment]).run(inputs={"x": 1}, config=config) == {"y": 2}
    backend.close()
    backend.close()
    assert Pipeline(nodes=[increment]).run(inputs={"x": 2}, config=config) == {"y": 3}


def test_one_session_serves_every_run_and_map() -> None:
    with ModalBackend(mode="local") as backend:
        config = RuntimeConfig(backend=backend)
        Pipeline(nodes=[increment]).run(inputs={"x": 1}, config=config)
        session = backend._session
        Pipeline(nodes=[increment]).map(inputs={"x": [1, 2, 3]}, map_over="x", config=config)
        assert backend._session is session is not None
    assert backend._session is None

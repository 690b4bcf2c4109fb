import pathlib

import onnx
import pytest

LIGHT = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


@pytest.fixture
def light_model_path() -> str:
    return str(LIGHT / "light_squeezenet.onnx")

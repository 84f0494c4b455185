"""Fixtures shared by the report tests."""

import base64
import io

import pytest
from PIL import Image


@pytest.fixture
def check_embedded_png():
    """``check(img, min_side)``: an ``<img>``'s attributes embed a real PNG, shown at its size at 96 CSS px per inch."""

    def check(img: dict, min_side: int) -> None:
        assert img["alt"].strip()
        assert img["src"].startswith("data:image/png;base64,")
        png = base64.b64decode(img["src"].split(",", 1)[1], validate=True)
        with Image.open(io.BytesIO(png)) as decoded:
            decoded.load()
            assert decoded.format == "PNG"
            width, height = decoded.size
        assert width > min_side and height > min_side
        # Displayed size is the PNG's at 96 CSS px per inch, so figures keep their intended size.
        assert abs(int(img["width"]) - width * 96 / 144) <= 1

    return check

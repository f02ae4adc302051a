"""Type stubs of otto-rec's native module (PyO3)."""

from os import PathLike
from pathlib import Path
from typing import Union

__version__: str

class OttoRecError(Exception):
    """An otto-rec error; ``code`` names its kind as the CLI and the HTTP API do."""

    code: str

def run(args: list[str]) -> None:
    """Runs one ``otto-rec`` command line (without the program name), as the binary would."""

class Recommender:
    """A bundle (index, and rankers when trained) opened for recommendations."""

    def __init__(self, model_dir: Union[str, PathLike[str]]) -> None: ...
    def recommend(
        self,
        aids: list[int],
        timestamps: list[int],
        event_types: list[int],
        type: str = "orders",
        k: int = 20,
    ) -> tuple[list[int], list[float]]:
        """The top ``k`` items for the session and objective, best first, with scores: what
        ``POST /predict`` answers for the same body."""
    @property
    def model_dir(self) -> Path: ...
    @property
    def version(self) -> str: ...
    @property
    def has_rankers(self) -> bool: ...

"""Public import path of the engine factory: `from neondoctor.db import create_engine`.

The code lives in `neondoctor.app.db` with the rest of what applications import; this name is
kept because apps already import it.
"""

from neondoctor.app.db import *  # noqa: F403
from neondoctor.app.db import __all__  # noqa: F401

"""SendFlowr: headless timing intelligence for marketing messages."""

import logging

__all__ = ["__version__"]

# A library logs; the application (the CLI, `serve`) decides where it goes.
logging.getLogger("sendflowr").addHandler(logging.NullHandler())

__version__ = "0.1.0"

"""Sawmill's Python SDK: a :mod:`logging` handler that ships records to a
Sawmill server, plus integrations for Django (:mod:`sawmill.django`) and
Celery (:mod:`sawmill.celery`) and a scrubbing filter.

Standard library only; Python 3.9+. The quickest set-up::

    import logging, sawmill
    logging.getLogger().addHandler(sawmill.Handler())   # SAWMILL_API_KEY, SAWMILL_URL

or ``'class': 'sawmill.Handler'`` in a ``LOGGING`` dict. Importing this
package must not import Django or Celery.
"""

from .context import bind, reset, set_fields
from .handler import Handler, close_all, flush_all, parse_retry_after
from .record import exception_dict, to_dict
from .scrub import ScrubFilter

__all__ = [
    "Handler",
    "ScrubFilter",
    "bind",
    "close_all",
    "exception_dict",
    "flush_all",
    "parse_retry_after",
    "reset",
    "set_fields",
    "to_dict",
]

__version__ = "0.1.0"

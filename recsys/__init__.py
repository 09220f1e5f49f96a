"""Long-Tail Lab: find and recommend long-tail items with a fine-tuned language model.

The library never imports streamlit; the dashboard (``app.py``, ``pages/``) is a thin view over it.
"""

from recsys.data.dataset import DataError, Dataset

__all__ = ["DataError", "Dataset"]

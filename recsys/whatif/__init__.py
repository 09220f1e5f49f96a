"""What-if: the Recommendations page's library, re-ranking cached lists and saying why.

- ``scorers``: models as named score parts (collaborative, language model, content, band offset).
- ``rerank``: candidate lists with score parts, three tail-boost re-rankers, the trade-off curve.
- ``explain``: why an item is in a list: score parts, rank before and after, similar history items.
"""

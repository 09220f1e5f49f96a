"""Evaluation: the offline protocol every number in this project comes from.

- ``split``: train / validation / test splits (temporal, random, item-cold).
- ``metrics``: accuracy and long-tail metrics over top-K lists, overall and per popularity band.
- ``protocol``: dataset -> split -> tune on validation -> fit -> top-K -> metrics (``evaluate``).
- ``tables``: :class:`~recsys.evaluation.tables.Results`, as markdown tables or JSON.
"""

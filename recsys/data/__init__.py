"""Data: what the models learn from, read, checked and described.

- ``dataset``: :class:`~recsys.data.dataset.Dataset` (interactions + catalogue), ``DataError``.
- ``tables``: reading CSV, TSV and Parquet files.
- ``validation``: column mapping and the checks every loader ends in (``build_dataset``).
- ``movielens``: MovieLens folders (ml-latest-small, ml-100k, ml-1m), tags joined into item text.
- ``sources``: ``load``, ``load_table``, ``load_sample``: where a dataset comes from.
- ``index``: integer positions of users and items, and the sparse user x item matrix.
- ``popularity``: item counts, head / tail / cold bands, the Lorenz curve and Gini.
- ``segments``: light / heavy and mainstream / niche users.
- ``timestamps``: timestamp and date columns parsed and range-checked.
- ``sample_cache``: the sample's shipped vectors and map, installed into the disk caches.
"""

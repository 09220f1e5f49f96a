"""The stakeholder report.

- ``analysis``: one what-if analysis headless (split, bands, candidates, boost, KPIs, examples).
- ``html``: the analysis as one self-contained HTML file (plotly inlined, every string escaped).
- ``cli``: ``python -m recsys report``.
"""

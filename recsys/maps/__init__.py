"""Maps: the Embeddings page's library, item embeddings drawn in 2-D and their neighbourhoods.

- ``projection``: UMAP or PCA to 2-D, cached on disk.
- ``neighbours``: exact cosine neighbours in the full space, how they changed, title search.
- ``sampling``: popularity bands and a point budget that keeps every band.
"""

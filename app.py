"""Long-Tail Lab dashboard: entry point and navigation. Run with `make run`."""

import os

import streamlit as st

from pages import auth, common, rec_models
from recsys.maps import projection

st.set_page_config(page_title="Long-Tail Lab", page_icon=":material/insights:", layout="wide")
common.leave_legacy_navigation(rerun=False)  # no pages/ file list, not even beside the gate
auth.require_login()  # first: a shared dashboard shows nothing before the user logs in
common.init_state()
# Fill the slow caches (models, vectors, UMAP's compile) in a background thread, once per
# process: navigation never waits on it, and the Recommendations page shows its progress.
rec_models.start_warmup(st.session_state[common.RUNS_DIR])
if os.environ.get(rec_models.WARMUP_ENV, "1") != "0":  # UMAP's numba compile (~25 s), at once:
    projection.start_warm_up()  # the warm-up above reaches its map only after the models

# Grouped navigation; each page also works when opened directly (common.init_state defaults).
PAGES = {
    "Data": [
        st.Page("pages/data.py", title="Data", icon=":material/bar_chart:", default=True),
    ],
    "Model": [st.Page("pages/finetune.py", title="Fine-tune", icon=":material/model_training:")],
    "Explore": [
        st.Page("pages/recommendations.py", title="Recommendations", icon=":material/recommend:"),
        st.Page("pages/embeddings.py", title="Embeddings", icon=":material/scatter_plot:"),
    ],
}

st.navigation(PAGES).run()

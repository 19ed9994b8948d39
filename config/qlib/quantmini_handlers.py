"""Qlib data handlers for the ``qrun`` configs beside this file (their ``sys: rel_path`` puts
this folder on the path; pyqlib is what runs them, not the workflow).

``Alpha158PIT`` is Qlib's Alpha158 (158 price and volume features) plus a few point-in-time
fundamentals from the store's ``financial/`` database (quantmini.gold.qlib_pit): ratios, so
that they compare across companies and need no split adjustment, each the value the filings
known that day stated. Names without filings get NaN, which LightGBM takes as missing.
"""

from __future__ import annotations

from qlib.contrib.data.handler import Alpha158

# feature name -> Qlib expression (quarterly filings; P() collapses them to each day)
PIT_FEATURES = {
    "PIT_ROE": "P($$roe_q)",
    "PIT_ROA": "P($$roa_q)",
    "PIT_GROSS_MARGIN": "P($$gross_margin_q)",
    "PIT_NET_MARGIN": "P($$net_margin_q)",
    "PIT_DEBT_TO_EQUITY": "P($$debt_to_equity_q)",
}


class Alpha158PIT(Alpha158):
    """Alpha158's features followed by :data:`PIT_FEATURES`."""

    def get_feature_config(self):
        fields, names = super().get_feature_config()
        return [*fields, *PIT_FEATURES.values()], [*names, *PIT_FEATURES]

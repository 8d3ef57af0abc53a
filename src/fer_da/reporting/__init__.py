"""The paper's tables, figures and the proxy A-distance. Pure functions; no Kedro."""

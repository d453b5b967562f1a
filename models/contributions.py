"""Per-case feature contributions of a LightGBM model along each case's decision paths.

Every split on a case's path through a tree moves the expected value from the node's to the
child's; the move is credited to the split's feature (Saabas' path attribution, the method of
treeinterpreter and of `shap.TreeExplainer(approximate=True)`). Summed over the trees, a case's
contributions plus the model's expected value give its raw score exactly, as TreeSHAP's do.

It is computed as one sparse product: (cases x leaves) which-leaf indicators, from LightGBM's own
leaf prediction, times (leaves x features) path credits, read once from the dumped trees. That is
a few microseconds a case, against about 0.45 ms for pred_contrib's TreeSHAP on 3,000 sparse text
columns; the reasons a dispatcher reads agree with TreeSHAP's (bench/grader.py measures how often).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
from scipy import sparse


class PathContributions:
    """Path contributions of one booster (the trees LightGBM predicts with), per class."""

    def __init__(self, booster: lgb.Booster, num_iteration: int | None = None):
        self.booster, self.num_iteration = booster, num_iteration
        model = booster.dump_model(num_iteration=num_iteration or -1)
        self.n_classes = model["num_class"]
        self.n_features = model["max_feature_idx"] + 1
        trees = model["tree_info"]
        self.offsets = np.cumsum([0, *(t["num_leaves"] for t in trees)])
        rows, cols, credit = [], [], []
        self.expected = np.zeros(self.n_classes)
        for t, tree in enumerate(trees):
            root = tree["tree_structure"]
            self.expected[t % self.n_classes] += _value(root)
            for leaf, path in _leaf_paths(root):
                for feature, delta in path.items():
                    rows.append(self.offsets[t] + leaf)
                    cols.append(feature)
                    credit.append(delta)
        self.tree_class = np.arange(len(trees)) % self.n_classes
        self.credits = sparse.csr_matrix(
            (credit, (rows, cols)), shape=(self.offsets[-1], self.n_features)
        )

    def __call__(self, X) -> list[sparse.csr_matrix]:
        """Return one (cases x features) contribution matrix per class (one for binary models)."""
        leaves = self.booster.predict(X, pred_leaf=True, num_iteration=self.num_iteration).astype(
            np.int64
        )
        leaves = leaves.reshape(X.shape[0], -1)
        out = []
        for c in range(self.n_classes):
            trees = np.flatnonzero(self.tree_class == c)
            columns = (leaves[:, trees] + self.offsets[trees]).ravel()
            indicator = sparse.csr_matrix(
                (
                    np.ones(len(columns)),
                    columns,
                    np.arange(0, len(columns) + 1, len(trees)),
                ),
                shape=(X.shape[0], self.offsets[-1]),
            )
            out.append((indicator @ self.credits).tocsr())
        return out


def _value(node: dict) -> float:
    return node["leaf_value"] if "leaf_value" in node else node["internal_value"]


def _leaf_paths(root: dict):
    """Yield (leaf_index, {feature: credit}) for every leaf of a dumped tree."""
    if "leaf_value" in root:  # a tree with no split credits nothing
        yield root.get("leaf_index", 0), {}
        return
    stack = [(root, {})]
    while stack:
        node, path = stack.pop()
        if "leaf_value" in node:
            yield node["leaf_index"], path
            continue
        feature, value = node["split_feature"], node["internal_value"]
        for child in (node["left_child"], node["right_child"]):
            credited = dict(path)
            credited[feature] = credited.get(feature, 0.0) + _value(child) - value
            stack.append((child, credited))

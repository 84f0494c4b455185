"""GridSearchCV for k-nearest neighbours: number of neighbours, vote weighting and pixel scaling.

    python baselines/grid_knn.py --data DIR [--quick]
"""

from _common import main

GRID = {"n_neighbors": [1, 3, 5, 7, 9], "weights": ["uniform", "distance"], "mode": ["negative", "binary"]}
QUICK = {"n_neighbors": [1, 3]}

if __name__ == "__main__":
    main("knn", GRID, QUICK, __doc__)

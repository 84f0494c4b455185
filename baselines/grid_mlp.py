"""GridSearchCV for the MLP, reproducing the study's search.

Hidden layer of 250 to 260 units; SGD with learning rates 0.001 * e^i for i = 1..5 against Adam
(lr 0.001); batch sizes 128 to 512.

    python baselines/grid_mlp.py --data DIR [--quick]
"""

import math

from _common import main

HIDDEN = list(range(250, 261))
SGD_LRS = [0.001 * math.e**i for i in range(1, 6)]  # 0.0027 ... 0.148
BATCH_SIZES = [128, 256, 512]
GRID = [
    {"hidden": HIDDEN, "optimizer": ["sgd"], "lr": SGD_LRS, "batch_size": BATCH_SIZES},
    {"hidden": HIDDEN, "optimizer": ["adam"], "lr": [0.001], "batch_size": BATCH_SIZES},
]
QUICK = [{"hidden": [250], "optimizer": ["sgd"], "lr": [SGD_LRS[0]]}, {"hidden": [250], "optimizer": ["adam"]}]

if __name__ == "__main__":
    main("mlp", GRID, QUICK, __doc__)

"""GridSearchCV for the CNN, reproducing the study's search.

SGD with learning rates 0.001 * e^i for i = 1..5 against Adam (lr 0.001), average against max pooling,
batch sizes 128 to 512.

    python baselines/grid_cnn.py --data DIR [--quick]
"""

import math

from _common import main

SGD_LRS = [0.001 * math.e**i for i in range(1, 6)]  # 0.0027 ... 0.148
BATCH_SIZES = [128, 256, 512]
GRID = [
    {"optimizer": ["sgd"], "lr": SGD_LRS, "pool": ["avg", "max"], "batch_size": BATCH_SIZES},
    {"optimizer": ["adam"], "lr": [0.001], "pool": ["avg", "max"], "batch_size": BATCH_SIZES},
]
QUICK = {"optimizer": ["adam"], "pool": ["avg", "max"]}

if __name__ == "__main__":
    main("cnn", GRID, QUICK, __doc__)

"""`python -m keras_lm` is the `keras-lm` command."""

import sys

from keras_lm.cli import main

sys.exit(main())

"""python -m pytest_circuit_ablation.tools.train"""
import sys

from .cli import main

sys.exit(main())

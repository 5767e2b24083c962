"""python -m pytest_circuit_ablation.train"""
import sys

from .cli import main

sys.exit(main())

"""Tests of the sweep stage never reach beyond this machine: masscan outside the lab is disabled."""

import os

os.environ["POOLSCAN_NO_INTERNET"] = "1"

#!/usr/bin/env python3
"""Writes the fixed-seed tokenizers test_tokenizer_fixed expects, then runs it.
usage: run_fixed.py TEST_BINARY WORK_DIR"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import make_tokenizer  # noqa: E402

binary, work = sys.argv[1], sys.argv[2]
make_tokenizer.write_tokenizer(os.path.join(work, "bl"), "byte-level", 1200, 3)
make_tokenizer.write_tokenizer(os.path.join(work, "sp"), "sentencepiece", 1200, 4)
make_tokenizer.write_tokenizer(os.path.join(work, "ms"), "sentencepiece", 1200, 5, metaspace=True)
sys.exit(subprocess.run([binary, work]).returncode)

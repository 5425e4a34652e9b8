"""Batch scoring (layer 14): files in, predictions out, every row accounted for."""

from tabloop.batch._score import OUT_OF_CONTRACT_COLUMN, BatchOutput, log_batch, score_frame, write_table

__all__ = ["OUT_OF_CONTRACT_COLUMN", "BatchOutput", "log_batch", "score_frame", "write_table"]

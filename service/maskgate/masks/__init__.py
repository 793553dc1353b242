"""Synthetic face masks: MaskTheFace templates and procedurally drawn masks."""

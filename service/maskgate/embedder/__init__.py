"""The embedder: where the API hands images to the face pipeline.

``Embedder`` is the interface the routers depend on; ``InProcessEmbedder`` runs the pipeline
in this process behind a micro-batcher. A Celery-backed embedder plugs in at the same seam.
"""

from maskgate.embedder.base import Embedder
from maskgate.embedder.inprocess import InProcessEmbedder

__all__ = ["Embedder", "InProcessEmbedder"]

"""The embedder: where the API hands images to the face pipeline.

``Embedder`` is the interface the routers depend on; ``InProcessEmbedder`` runs the pipeline
in this process behind a micro-batcher; ``maskgate.embedder.celery.CeleryEmbedder`` hands it
to Celery workers through Redis (imported only when a broker is configured).
"""

from maskgate.embedder.base import Embedder
from maskgate.embedder.inprocess import InProcessEmbedder

__all__ = ["Embedder", "InProcessEmbedder"]

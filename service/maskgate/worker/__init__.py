"""The Celery worker pool: the face pipeline behind Redis, many requests per model call.

``celery_app`` builds the app from ``Settings`` (every setting explained there), ``tasks``
holds ``pipeline.analyze`` (celery-batches), ``serialize`` turns images and outcomes into
JSON and back, ``main`` is the worker process ``maskgate worker`` runs. The API side is
``maskgate.embedder.celery.CeleryEmbedder``.
"""

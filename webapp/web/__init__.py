"""The web layer: the API and UI blueprints, health probes, metrics, the OpenAPI document,
problem+json errors, security headers, request logging, forms, stored results and charts.

May import: Flask and its extensions, and every other part of `webapp` but the engines. It holds no
domain logic: views read the request and call the core.
"""

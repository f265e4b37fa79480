"""Serving: loading registered model artifacts and (later) the prediction server.

``loaders`` turns a version's declared loader (``joblib``, ``pickle`` or
``python:package.module:factory``) and its verified artifact path into a predicting object;
``load_check`` runs that load in a child process so a registry can try it without importing the
model's code (or its crash) into its own process.
"""

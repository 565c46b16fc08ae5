"""The peer engines of ``bench/compare.py`` (pycasbin, cedarpy): policy files and adapter code."""

"""A small web shop with switchable faults, for observer's examples, demos and tests."""

from observer.demo.shop import PRODUCTS, Product, ShopServer, create_app, serve

__all__ = ["PRODUCTS", "Product", "ShopServer", "create_app", "serve"]

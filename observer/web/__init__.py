"""Browser-side assets: the web-vitals bundle, and later the snippet and dashboard."""

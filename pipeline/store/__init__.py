from pipeline.store.base import Recorded, Store

__all__ = ["Recorded", "Store"]

from pipeline.store.base import Recorded, SeriesSample, Store

__all__ = ["Recorded", "SeriesSample", "Store"]

"""The model lifecycle: training and registering in MLflow (:mod:`.lifecycle`), the registry's
aliases and promotion decisions (:mod:`.registry`), experiments (:mod:`.tracking`), when to
retrain (:mod:`.retrain_policy`) and the review plots (:mod:`.review_plots`).
"""

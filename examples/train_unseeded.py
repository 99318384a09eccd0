"""A typical training script that cannot be reproduced: `mlrepro lint examples/` shows why."""

import random

import mlflow
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split


def main() -> None:
    X = np.random.rand(500, 8)
    y = (X[:, 0] + 0.1 * np.random.randn(500) > 0.5).astype(int)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
    features = list(range(8))
    random.shuffle(features)

    mlflow.start_run()
    model = RandomForestClassifier(n_estimators=100).fit(X_train[:, features], y_train)
    mlflow.log_metric("accuracy", model.score(X_test[:, features], y_test))
    mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle")


if __name__ == "__main__":
    main()

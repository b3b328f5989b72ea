"""Train a student model against a teacher's soft outputs and, when present, hard labels.

Distillation, fine-tuning after channel pruning, magnitude pruning and QAT all
train through `train_with_teacher`, so each of them works without labels: the
teacher's outputs are then the only target.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from edgeforge._tf import import_tf
from edgeforge.data.dataset import Dataset
from edgeforge.errors import InputError
from edgeforge.passes.common import epoch_logger, model_inputs, outputs_are_probabilities, seed_everything

log = logging.getLogger(__name__)

_LOG_EPSILON = 1e-7


@dataclass
class TrainSettings:
    """How to train a student against a teacher.

    `alpha` weighs the hard-label cross-entropy and `1 - alpha` the soft loss
    `T^2 * KL(teacher_T || student_T)`; without labels the soft loss is all.
    `feature_pairs` lists (teacher layer, student layer) names whose outputs are
    matched by mean squared error through a learned 1x1 projection.
    """

    epochs: int = 1
    steps_per_epoch: int | None = None
    batch_size: int = 64
    learning_rate: float = 1e-3
    temperature: float = 4.0
    alpha: float = 0.5
    feature_pairs: list[tuple[str, str]] = field(default_factory=list)
    feature_weight: float = 1.0
    seed: int = 0


def soft_loss(teacher_logits: Any, student_logits: Any, temperature: float) -> Any:
    """Return the batch mean of `T^2 * KL(softmax(teacher/T) || softmax(student/T))`."""
    tf = import_tf()
    teacher_log_p = tf.nn.log_softmax(teacher_logits / temperature, axis=-1)
    student_log_p = tf.nn.log_softmax(student_logits / temperature, axis=-1)
    kl = tf.reduce_sum(tf.exp(teacher_log_p) * (teacher_log_p - student_log_p), axis=-1)
    return tf.reduce_mean(kl) * temperature**2


def as_logits(outputs: Any, probabilities: bool) -> Any:
    """Return logits for a softmax output: log-probabilities differ from logits only by a constant."""
    tf = import_tf()
    if not probabilities:
        return outputs
    return tf.math.log(tf.maximum(outputs, _LOG_EPSILON))


def distillation_loss(model: Any, teacher: Any, data: Dataset, *, temperature: float) -> float:
    """Return the soft loss of `model` against `teacher` on `data`, for before/after figures."""
    inputs = model_inputs(model, data)
    feed = inputs if len(inputs) > 1 else inputs[0]
    teacher_out = teacher.predict(feed, batch_size=256, verbose=0)
    student_out = model.predict(feed, batch_size=256, verbose=0)
    loss = soft_loss(
        as_logits(np.asarray(teacher_out, dtype=np.float32), outputs_are_probabilities(teacher)),
        as_logits(np.asarray(student_out, dtype=np.float32), outputs_are_probabilities(model)),
        temperature,
    )
    return float(loss)


def _as_list(outputs: Any) -> list[Any]:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


@contextlib.contextmanager
def _logits_exposed(model: Any) -> Iterator[bool]:
    """Drop a final softmax activation for the duration of the block; yield whether it did.

    Logits recovered as log-probabilities lose their gradient once a softmax
    saturates below float precision, which can stall training, so training uses
    the real logits where the output layer allows it.
    """
    keras = import_tf().keras
    layer = model.get_layer(model.output_names[0])
    activation = getattr(layer, "activation", None)
    if activation is None or getattr(activation, "__name__", "") != "softmax":
        yield False
        return
    layer.activation = keras.activations.linear
    try:
        yield True
    finally:
        layer.activation = activation


def _make_distiller(
    student: Any, teacher: Any, settings: TrainSettings, has_labels: bool, *,
    student_probabilities: bool, teacher_probabilities: bool,
) -> Any:
    tf = import_tf()
    keras = tf.keras

    teacher_features = [teacher.get_layer(name).output for name, _ in settings.feature_pairs]
    student_features = [student.get_layer(name).output for _, name in settings.feature_pairs]
    teacher_view = keras.Model(teacher.inputs, [teacher.outputs[0], *teacher_features])
    student_view = keras.Model(student.inputs, [student.outputs[0], *student_features])
    # The teacher is not frozen with `trainable = False`: that flag would change the
    # caller's layers, and clones of them. Only student variables get gradients anyway.
    projections = [
        keras.layers.Dense(int(t.shape[-1]), use_bias=False, name=f"feature_projection_{index}")
        for index, t in enumerate(teacher_features)
    ]
    alpha = settings.alpha if has_labels else 0.0

    class Distiller(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.student = student
            self.student_view = student_view
            self.teacher_view = teacher_view
            self.projections = projections

        def call(self, inputs: Any, training: bool = False) -> Any:
            return self.student(inputs, training=training)

        def train_step(self, data: Any) -> dict[str, Any]:
            x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
            teacher_outputs = _as_list(self.teacher_view(x, training=False))
            teacher_logits = as_logits(teacher_outputs[0], teacher_probabilities)
            with tf.GradientTape() as tape:
                student_outputs = _as_list(self.student_view(x, training=True))
                student_logits = as_logits(student_outputs[0], student_probabilities)
                loss = (1.0 - alpha) * soft_loss(teacher_logits, student_logits, settings.temperature)
                if alpha > 0.0 and y is not None:
                    # One-hot cross-entropy: the sparse op's gradient fails under op determinism (TF 2.21).
                    targets = tf.one_hot(tf.cast(tf.reshape(y, [-1]), tf.int32), tf.shape(student_logits)[-1])
                    hard = tf.nn.softmax_cross_entropy_with_logits(targets, student_logits)
                    loss += alpha * tf.reduce_mean(hard)
                for index, projection in enumerate(self.projections):
                    projected = projection(student_outputs[index + 1])
                    difference = projected - tf.stop_gradient(teacher_outputs[index + 1])
                    loss += settings.feature_weight * tf.reduce_mean(tf.square(difference))
                loss += sum(self.student.losses) if self.student.losses else 0.0
            variables = self.student.trainable_variables + [
                v for projection in self.projections for v in projection.trainable_variables
            ]
            gradients = tape.gradient(loss, variables)
            self.optimizer.apply_gradients(
                [(g, v) for g, v in zip(gradients, variables) if g is not None]
            )
            return {"loss": loss}

    return Distiller()


def train_with_teacher(
    student: Any,
    teacher: Any,
    data: Dataset,
    *,
    settings: TrainSettings,
    pass_name: str,
    callbacks: list[Any] | None = None,
) -> list[float]:
    """Train `student` in place against `teacher` on `data`; return the loss of each epoch.

    The batch order and weight initialisation follow `settings.seed`, so the same
    data and seed give the same weights.
    """
    tf = import_tf()
    if settings.epochs < 1:
        raise InputError(f"pass {pass_name!r}: epochs must be >= 1, found {settings.epochs}")
    for teacher_name, student_name in settings.feature_pairs:
        for model, name, role in ((teacher, teacher_name, "teacher"), (student, student_name, "student")):
            if name not in {layer.name for layer in model.layers}:
                raise InputError(
                    f"pass {pass_name!r}: feature layer {name!r} not found in the {role} model; "
                    f"layers: {', '.join(layer.name for layer in model.layers)}"
                )

    seed_everything(settings.seed)
    inputs = model_inputs(student, data)
    feed = tuple(inputs) if len(inputs) > 1 else inputs[0]
    labels = data.labels

    dataset = tf.data.Dataset.from_tensor_slices((feed, labels) if labels is not None else (feed,))
    dataset = dataset.shuffle(len(data), seed=settings.seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(settings.batch_size)
    if settings.steps_per_epoch is not None:
        dataset = dataset.repeat()
    student_probabilities = outputs_are_probabilities(student)
    teacher_probabilities = outputs_are_probabilities(teacher)
    with _logits_exposed(student) as student_exposed, _logits_exposed(teacher) as teacher_exposed:
        distiller = _make_distiller(
            student, teacher, settings, labels is not None,
            student_probabilities=student_probabilities and not student_exposed,
            teacher_probabilities=teacher_probabilities and not teacher_exposed,
        )
        distiller.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=settings.learning_rate))
        history = distiller.fit(
            dataset,
            epochs=settings.epochs,
            steps_per_epoch=settings.steps_per_epoch,
            verbose=0,
            callbacks=[epoch_logger(pass_name), *(callbacks or [])],
        )
    return [float(value) for value in history.history.get("loss", [])]

"""rag's reader model: a MiniLM fine-tuned here (training/) to read a question with a passage and
point at the answer span. `features` makes its inputs (shared with training), `model` runs the
shipped ONNX file. The reader that ranks sentences and answers is rag.answering; it uses this
model when it loads, and its own rules alone when it does not."""

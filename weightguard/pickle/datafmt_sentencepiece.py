"""SentencePiece `tokenizer.model`: a `sentencepiece.ModelProto` protobuf, checked by parse.

sentencepiece_model.proto: ModelProto { repeated SentencePiece pieces = 1; TrainerSpec
trainer_spec = 2; NormalizerSpec normalizer_spec = 3; SelfTestData self_test_data = 4;
NormalizerSpec denormalizer_spec = 5; } and SentencePiece { string piece = 1; float score
= 2; Type type = 3; }. A file is SentencePiece only if the whole of it parses so, with at
least one piece, every piece a UTF-8 string, and the nested specs well-formed messages.
The loader (C++ `ModelProto::ParseFromArray`) runs no code: it is data.
"""

from __future__ import annotations

from weightguard.pickle.datafmt_proto import WireError, fields, message, sub

_MODEL = {1: 2, 2: 2, 3: 2, 4: 2, 5: 2}
_PIECE = {1: 2, 2: 5, 3: 0}
MAX_SIZE = 64 << 20  # real models are under 5 MB


def is_sentencepiece(data: bytes) -> bool:
    """Whether `data` (the whole file) is a well-formed SentencePiece ModelProto."""
    try:
        top = message(data, _MODEL)
        pieces = 0
        for number, _, value in top:
            body = sub(value)
            if number == 1:
                parts = message(body, _PIECE)
                text = [sub(v) for n, _, v in parts if n == 1]
                if len(text) != 1:
                    return False
                text[0].decode("utf-8")
                pieces += 1
            else:
                for _ in fields(body):
                    pass
        return pieces > 0
    except (WireError, UnicodeDecodeError):
        return False

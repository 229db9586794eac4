import pickle

import pytest

from reelsense.errors import (
    DecodeError,
    MediaLimitError,
    ModelNotFoundError,
    NoAudioError,
    OutputError,
    ParameterError,
    ReelsenseError,
    SidecarError,
    SoundIndexError,
    SoundIndexFormatError,
)


@pytest.mark.parametrize("cls", [DecodeError, MediaLimitError])
def test_decode_errors_survive_pickle(cls: type[DecodeError]) -> None:
    # Process pools send exceptions back pickled; a custom __init__ must not break that.
    err = cls("/videos/a.mp4", "no audio stream")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert back.path == "/videos/a.mp4"
    assert back.cause == "no audio stream"
    assert str(back) == str(err) == "cannot decode '/videos/a.mp4': no audio stream"


@pytest.mark.parametrize(
    "cls",
    [
        ParameterError,
        DecodeError,
        SidecarError,
        ModelNotFoundError,
        SoundIndexError,
        SoundIndexFormatError,
        OutputError,
    ],
)
def test_every_error_derives_from_the_root(cls: type[Exception]) -> None:
    assert issubclass(cls, ReelsenseError)


def test_parameter_error_is_a_value_error() -> None:
    assert issubclass(ParameterError, ValueError)
    assert issubclass(ModelNotFoundError, LookupError)


def test_every_error_class_is_exported_from_the_package() -> None:
    import reelsense
    from reelsense import errors

    for name in errors.__all__:  # NoAudioError, NoMediaError, ResumeMismatchError were missing
        assert name in reelsense.__all__, name
        assert getattr(reelsense, name) is getattr(errors, name)
    assert set(errors.__all__) <= set(dir(reelsense))


def test_no_audio_error_says_no_usable_audio_once() -> None:
    # read_audio's message was "cannot decode 'x.wav': no usable audio (treated as absent): 50 ms
    # ...": not a file that cannot be decoded, and "(treated as absent)" is odd in an error
    err = NoAudioError("/videos/a.mp4", "no audio stream")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is NoAudioError and isinstance(back, DecodeError)
    assert (back.path, back.cause) == ("/videos/a.mp4", "no audio stream")
    assert str(back) == str(err) == "no usable audio in '/videos/a.mp4': no audio stream"


def test_no_media_error_survives_pickle() -> None:
    """Its message names the inputs after a round trip too (it was rebuilt from the message
    string, one character per input)."""
    from reelsense.errors import NoMediaError

    err = NoMediaError(["/videos", "/more"])
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is NoMediaError and back.inputs == ["/videos", "/more"]
    assert str(back) == str(err) == "no media files found under '/videos', '/more'"


def test_not_a_regular_file_is_a_reelsense_error_and_an_os_error(tmp_path: object) -> None:
    """Raised for a FIFO, device or folder where a file goes: callers catching either class
    catch it (it was an OSError only, outside the one hierarchy)."""
    from reelsense.io import NotRegularFileError, regular_file_size

    with pytest.raises(NotRegularFileError) as err:
        regular_file_size(tmp_path)  # type: ignore[arg-type]
    assert isinstance(err.value, ReelsenseError) and isinstance(err.value, OSError)
    assert "is a directory, not a regular file" in str(err.value)

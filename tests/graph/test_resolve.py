from __future__ import annotations

import pytest

from musicgraph.graph.resolve import artist_key, normalize_tag, song_key, split_featured, title_key


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("The Beatles", "Beatles"),
        ("Beyoncé", "BEYONCE"),
        ("Simon & Garfunkel", "Simon and Garfunkel"),
        ("blink-182", "Blink 182"),
        ("Jay-Z feat. Kanye West", "Jay-Z"),
        ("Guns N' Roses", "Guns N Roses"),
    ],
)
def test_same_artist(a, b):
    assert artist_key(a) == artist_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Earth, Wind & Fire", "Earth"),  # commas are not split
        ("The The", "The"),
        ("Bob", "B.o.B"),
        ("+/-", "And"),  # symbol-only names keep their symbols
        ("Sigur Rós", "Sigur Ros Tribute"),
    ],
)
def test_different_artists(a, b):
    assert artist_key(a) != artist_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Stay - Album Version (Edited)", "Stay"),
        ("Bohemian Rhapsody - Remastered 2011", "Bohemian Rhapsody"),
        ("One Call Away (feat. Tyga)", "One Call Away"),
        ("Don't Stop Me Now", "Dont Stop Me Now"),
        ("Hey Jude - 2015 Remaster", "Hey Jude"),
        ("Yesterday (Mono)", "yesterday"),
    ],
)
def test_same_title(a, b):
    assert title_key(a) == title_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Hey Jude - Live", "Hey Jude"),
        ("One Call Away (feat. Tyga) - Remix", "One Call Away"),
        ("Smells Like Teen Spirit (Demo)", "Smells Like Teen Spirit"),
        ("Layla (Acoustic)", "Layla"),
        ("Part 1", "Part 2"),
        ("Intro", "Outro"),
        ("Despacito - Remix", "Despacito"),
    ],
)
def test_different_titles(a, b):
    assert title_key(a) != title_key(b)


def test_same_title_by_different_artists_stays_apart():
    assert song_key("Adele", "Hello") != song_key("Lionel Richie", "Hello")
    assert song_key("The Killers", "Mr. Brightside") == song_key("Killers", "Mr Brightside")


def test_split_featured_and_tags():
    assert split_featured("Calvin Harris feat. Rihanna") == ("Calvin Harris", ["Rihanna"])
    assert split_featured("Earth, Wind & Fire") == ("Earth, Wind & Fire", [])
    assert normalize_tag("Hip-Hop") == normalize_tag("hip hop") == "hip hop"

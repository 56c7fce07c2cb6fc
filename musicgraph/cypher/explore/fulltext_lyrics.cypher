// Full-text search: lyrics
// Which songs have lyrics matching $text? Lyrics are (:Text {ref, text}) nodes joined to songs by
// Song.lyrics_ref; the snippet shows the first matching line.
:param text => 'heart AND night';
:param limit => 10;

CALL db.index.fulltext.queryNodes('lyrics_text', $text, {limit: $limit}) YIELD node AS t, score
MATCH (s:Song {lyrics_ref: t.ref})
WITH s, score, [w IN split(replace($text, '"', ''), ' ') WHERE NOT w IN ['AND', 'OR', 'NOT'] | toLower(replace(w, '~', ''))] AS words,
     split(t.text, '\n') AS lines
RETURN s.uid AS song, s.artist AS artist, s.title AS title, round(score, 4) AS score,
       head([ln IN lines WHERE any(w IN words WHERE toLower(ln) CONTAINS w)] + [lines[0]]) AS snippet
ORDER BY score DESC, song;

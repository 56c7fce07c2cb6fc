// Full-text search: song titles
// Which songs match $text in their title or aliases ("Artist - Title")? Lucene syntax: words,
// "phrases", fuzzy~, prefix*, AND/OR.
:param text => 'love~';
:param limit => 15;

CALL db.index.fulltext.queryNodes('song_title', $text, {limit: $limit}) YIELD node, score
RETURN node.uid AS song, node.artist AS artist, node.title AS title, round(score, 4) AS score
ORDER BY score DESC, song;

// Full-text search: artist names and aliases (typo tolerant)
// Which artists are called something like $text? Fuzzy matching (~) forgives typos.
:param text => 'radiohed~';
:param limit => 10;

CALL db.index.fulltext.queryNodes('artist_name', $text, {limit: $limit}) YIELD node, score
OPTIONAL MATCH (node)<-[l:LISTENED_TO]-(:User)
WITH node, score, count(l) AS listeners
RETURN node.uid AS artist, node.name AS name, node.aliases[0..4] AS aliases, listeners, round(score, 4) AS score
ORDER BY score DESC, listeners DESC, artist;

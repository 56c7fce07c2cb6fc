// Songs sharing moods and tags with a seed song
// Which other songs have a mood of $song and share its tags or genres (on the song or on its main
// artist)? Each shared mood counts 2, each shared tag or genre 1.
:param song => 'coldplay|yellow';
:param limit => 15;

MATCH (s:Song {uid: $song})
OPTIONAL MATCH (s)-[:HAS_MOOD]->(m:Mood)
WITH s, collect(DISTINCT m) AS moods
OPTIONAL MATCH (s)-[:PERFORMED_BY {role: 'main'}]->(:Artist)-[:TAGGED|HAS_GENRE]->(x1)
WITH s, moods, collect(DISTINCT x1) AS artist_descr
OPTIONAL MATCH (s)-[:TAGGED|HAS_GENRE]->(x2)
WITH s, moods, artist_descr, collect(DISTINCT x2) AS song_descr
WITH s, moods, artist_descr + song_descr AS descr
MATCH (o:Song)-[:HAS_MOOD]->(m2:Mood)
WHERE o <> s AND m2 IN moods
WITH descr, o, collect(DISTINCT m2.name) AS shared_moods
CALL (o, descr) {
  MATCH (o)-[:PERFORMED_BY {role: 'main'}]->(:Artist)-[:TAGGED|HAS_GENRE]->(y)
  WHERE y IN descr
  RETURN y AS x
  UNION
  MATCH (o)-[:TAGGED|HAS_GENRE]->(z)
  WHERE z IN descr
  RETURN z AS x
}
WITH o, shared_moods, collect(DISTINCT x.name) AS shared_tags
RETURN o.uid AS song, o.artist AS artist, o.title AS title, shared_moods, shared_tags[0..8] AS shared_tags,
       2 * size(shared_moods) + size(shared_tags) AS score
ORDER BY score DESC, song
LIMIT $limit;

// Playlist co-occurrence
// Which songs are put in the same playlists as $song most often? Counts shared playlists and names
// a few of them.
:param song => 'dj snake|taki taki';
:param limit => 15;

MATCH (s:Song {uid: $song})-[:IN_PLAYLIST]->(p:Playlist)<-[:IN_PLAYLIST]-(o:Song)
WHERE o <> s
WITH o, count(DISTINCT p) AS playlists, collect(DISTINCT p.name)[0..3] AS examples
RETURN o.uid AS song, o.artist AS artist, o.title AS title, playlists, examples
ORDER BY playlists DESC, song
LIMIT $limit;
